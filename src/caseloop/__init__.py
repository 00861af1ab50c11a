"""caseloop: customer-service case management with a closed feedback loop."""

__version__ = "0.1.0"
