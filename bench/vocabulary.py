"""The words the generated data set is made of: programs, case types, subjects, verbatims.

Kept apart from the generator so that its logic reads without a page of strings in the way.
Each weighted list gives (value, weight); weights need not add up to anything.
"""

from dataclasses import dataclass

FIRST_NAMES = [
    "Ada",
    "Alan",
    "Amara",
    "Ana",
    "Ben",
    "Bruno",
    "Carla",
    "Chen",
    "Chloe",
    "Dara",
    "David",
    "Elif",
    "Emma",
    "Erik",
    "Fatima",
    "Felix",
    "Grace",
    "Hana",
    "Hugo",
    "Ines",
    "Ivan",
    "Jana",
    "Jonas",
    "Kai",
    "Karin",
    "Leo",
    "Lina",
    "Luca",
    "Maya",
    "Mei",
    "Nadia",
    "Noah",
    "Omar",
    "Paula",
    "Priya",
    "Rafael",
    "Rosa",
    "Sami",
    "Sara",
    "Tariq",
    "Tom",
    "Uma",
    "Vera",
    "Yusuf",
    "Zoe",
]
LAST_NAMES = [
    "Adams",
    "Baker",
    "Berg",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Haddad",
    "Hansen",
    "Ivanova",
    "Jensen",
    "Kim",
    "Kowalski",
    "Lopez",
    "Meyer",
    "Moreau",
    "Nakamura",
    "Novak",
    "Okafor",
    "Olsen",
    "Patel",
    "Petrov",
    "Quinn",
    "Rossi",
    "Santos",
    "Schmidt",
    "Silva",
    "Smith",
    "Tanaka",
    "Torres",
    "Novak",
    "Weber",
    "Wong",
    "Yilmaz",
    "Zhang",
]
EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example.com")
AREA_CODES = (202, 206, 212, 213, 303, 305, 312, 404, 415, 503, 512, 617, 702, 713, 808, 919)
CITIES = [
    "Springfield",
    "Riverside",
    "Fairview",
    "Franklin",
    "Greenville",
    "Bristol",
    "Clinton",
    "Madison",
    "Georgetown",
    "Salem",
    "Arlington",
    "Ashland",
    "Burlington",
    "Manchester",
    "Milton",
    "Oxford",
    "Newport",
    "Dayton",
    "Kingston",
    "Lexington",
]
REGION_NAMES = (
    "North",
    "South",
    "East",
    "West",
    "Central",
    "Coast",
    "Mountain",
    "Lakes",
    "Valley",
    "Capital",
)

PRIORITIES = (("normal", 70), ("high", 15), ("low", 10), ("urgent", 5))
CONTACT_OUTCOMES = (("reached", 55), ("no_answer", 25), ("left_message", 18), ("wrong_number", 2))
CLOSING_STATUSES = (
    # (code, name, is_resolved, weight)
    ("resolved", "Resolved", True, 55),
    ("resolved-goodwill", "Resolved with a goodwill gesture", True, 15),
    ("unresolved", "Not resolved", False, 15),
    ("no-contact", "Customer could not be reached", False, 15),
)


@dataclass(frozen=True)
class CaseTypeSpec:
    code: str
    name: str
    weight: int
    subjects: tuple[str, ...]
    playbook: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProgramSpec:
    code: str
    name: str
    share: int
    start_hours: int
    resolve_hours: int
    sources: tuple[tuple[str, int], ...]
    case_types: tuple[CaseTypeSpec, ...]
    root_causes: tuple[tuple[str, str], ...]


PROGRAMS = (
    ProgramSpec(
        code="retail-survey",
        name="Retail purchase survey",
        share=65,
        start_hours=24,
        resolve_hours=72,
        sources=(("survey", 1),),
        case_types=(
            CaseTypeSpec(
                "product-quality",
                "Product quality",
                30,
                ("Product broke after a week", "Food past its date", "Item not as described"),
                ("Call the customer", "Offer a replacement or a refund"),
            ),
            CaseTypeSpec(
                "staff-behaviour",
                "Staff behaviour",
                25,
                ("Rude staff at checkout", "No help on the shop floor", "Staff ignored a question"),
            ),
            CaseTypeSpec(
                "waiting-time",
                "Waiting time",
                20,
                ("Long queue at the tills", "Only one till open", "Waited for the pharmacy"),
            ),
            CaseTypeSpec(
                "pricing",
                "Price or promotion error",
                15,
                ("Charged more than the shelf price", "Promotion not applied", "Wrong receipt"),
            ),
            CaseTypeSpec(
                "store-cleanliness",
                "Store cleanliness",
                10,
                ("Dirty toilets", "Spill left in an aisle", "Trolleys filthy"),
            ),
        ),
        root_causes=(
            ("staff-training", "Staff training"),
            ("stock-shortage", "Stock shortage"),
            ("product-defect", "Product defect"),
            ("pricing-error", "Pricing error"),
            ("understaffing", "Understaffing"),
            ("process-gap", "Process gap"),
            ("customer-expectation", "Customer expectation"),
        ),
    ),
    ProgramSpec(
        code="contact-centre",
        name="Contact centre complaints",
        share=35,
        start_hours=4,
        resolve_hours=120,
        sources=(("phone", 40), ("email", 30), ("web", 15), ("api", 10), ("manual", 5)),
        case_types=(
            CaseTypeSpec(
                "billing-dispute",
                "Billing dispute",
                30,
                ("Charged twice for one order", "Invoice does not match", "Unknown charge"),
            ),
            CaseTypeSpec(
                "delivery",
                "Late or missing delivery",
                30,
                ("Parcel never arrived", "Delivery a week late", "Wrong item delivered"),
            ),
            CaseTypeSpec(
                "refund",
                "Refund request",
                25,
                ("Refund not received", "Refund for a cancelled order", "Partial refund only"),
            ),
            CaseTypeSpec(
                "product-defect",
                "Product defect",
                15,
                ("Device stopped working", "Missing parts in the box", "Screen cracked on arrival"),
            ),
        ),
        root_causes=(
            ("billing-system", "Billing system"),
            ("carrier-delay", "Carrier delay"),
            ("warehouse-error", "Warehouse error"),
            ("agent-error", "Agent error"),
            ("policy-unclear", "Policy unclear"),
            ("product-defect", "Product defect"),
        ),
    ),
)

VERBATIMS = (
    "I waited twenty minutes and nobody came to help.",
    "The cashier was rude when I asked about the offer.",
    "Bought it on Saturday and it was broken on Sunday.",
    "The price on the shelf was not what I paid.",
    "Please call me back, this is the second time it happened.",
    "The store was dirty and the staff did not care.",
    "I love this shop but this visit was a disappointment.",
    "Nobody could tell me when the product would be back in stock.",
)
DESCRIPTIONS = (
    "",
    "Customer called the hotline and asked for a call back.",
    "Follow-up of an earlier contact; the customer is upset.",
    "Customer wrote in after the second failed attempt.",
)
NOTES = (
    "Checked the order history; the charge is visible twice.",
    "Spoke to the store manager, who will call the customer.",
    "Waiting for the carrier's answer.",
    "Customer prefers to be called after 5 pm.",
    "Asked the warehouse to check the stock.",
)
FINAL_NOTES = (
    "Apologised and refunded the difference.",
    "Replacement sent; customer satisfied.",
    "Explained the policy; customer accepted.",
    "Three call attempts without an answer; closed.",
    "Voucher offered as a goodwill gesture.",
    "Escalated to the supplier; customer informed.",
)
