"""The fixed part of the demo: Brightmart, a retail chain, its people and its two programs.

Corporate → four regions → twelve stores, plus the contact-centre team. Every store has a
designated owner (its store manager, an agent) and sits under a regional manager; the head of
customer care manages corporate, so store cases are watched by their regional manager with
full access and by the head of care read-only.
"""

from dataclasses import dataclass

from caseloop.org.models import Role
from caseloop.programs.models import DeadlineUnit

# Every demo user's password, printed by `caseloop demo`: the demo is for trying out, not for
# production, and must never be loaded into a database that real people use.
DEMO_PASSWORD = "demo-password"  # noqa: S105
CORPORATE = "brightmart"
CONTACT_CENTRE_UNIT = "contact-centre"
RETAIL_PROGRAM = "retail-survey"
CONTACT_CENTRE_PROGRAM = "contact-centre-complaints"
LIMITED_WATCHER = "lara"
HEAD_OF_CARE = "helen"


@dataclass(frozen=True)
class UserSpec:
    username: str
    first_name: str
    last_name: str
    title: str
    role: Role | None = None
    unit: str | None = None
    is_superuser: bool = False


@dataclass(frozen=True)
class UnitSpec:
    code: str
    name: str
    kind: str
    parent: str | None = None
    owner: str | None = None
    manager: str | None = None


@dataclass(frozen=True)
class CaseTypeSpec:
    code: str
    name: str
    playbook: tuple[str, ...]
    subjects: tuple[str, ...]
    customer_words: tuple[str, ...]
    likely_causes: tuple[str, ...]


@dataclass(frozen=True)
class ClosingStatusSpec:
    code: str
    name: str
    is_resolved: bool


@dataclass(frozen=True)
class ProgramSpec:
    code: str
    name: str
    description: str
    start_deadline: int
    resolve_deadline: int
    deadline_unit: DeadlineUnit
    case_types: tuple[CaseTypeSpec, ...]
    closing_statuses: tuple[ClosingStatusSpec, ...]
    root_causes: tuple[tuple[str, str], ...]
    notes: tuple[str, ...]
    resolved_notes: tuple[str, ...]
    unresolved_notes: tuple[str, ...]


# Each region: code, name, its regional manager, and its stores with their managers, who are
# the stores' designated case owners.
_REGIONS = (
    ("north", "North region", ("mark", "Mark", "Jensen"), (
        ("boston", "Boston Back Bay", ("olivia", "Olivia", "Grant")),
        ("portland", "Portland Old Port", ("noah", "Noah", "Patel")),
        ("burlington", "Burlington Church Street", ("emma", "Emma", "Schultz")),
    )),
    ("south", "South region", ("sofia", "Sofia", "Reyes"), (
        ("atlanta", "Atlanta Midtown", ("liam", "Liam", "O'Connor")),
        ("charlotte", "Charlotte Uptown", ("ava", "Ava", "Thompson")),
        ("nashville", "Nashville Gulch", ("lucas", "Lucas", "Moreau")),
    )),
    ("east", "East region", ("ethan", "Ethan", "Brooks"), (
        ("philadelphia", "Philadelphia Center City", ("mia", "Mia", "Rossi")),
        ("baltimore", "Baltimore Harbor", ("james", "James", "Okafor")),
        ("richmond", "Richmond Carytown", ("isla", "Isla", "McKenzie")),
    )),
    ("west", "West region", ("rosa", "Rosa", "Lindqvist"), (
        ("denver", "Denver LoDo", ("leo", "Leo", "Nakamura")),
        ("seattle", "Seattle Capitol Hill", ("zoe", "Zoe", "Kowalski")),
        ("phoenix", "Phoenix Roosevelt Row", ("omar", "Omar", "Haddad")),
    )),
)  # fmt: skip

REGIONS: tuple[UnitSpec, ...] = tuple(
    UnitSpec(code, name, "region", parent=CORPORATE, manager=manager[0])
    for code, name, manager, _ in _REGIONS
)
STORES: tuple[UnitSpec, ...] = tuple(
    UnitSpec(f"store-{code}", name, "store", parent=region, owner=owner[0])
    for region, _, _, stores in _REGIONS
    for code, name, owner in stores
)
UNITS: tuple[UnitSpec, ...] = (
    UnitSpec(CORPORATE, "Brightmart", "corporate", manager=HEAD_OF_CARE),
    *REGIONS,
    *STORES,
    UnitSpec(CONTACT_CENTRE_UNIT, "Contact centre", "team", parent=CORPORATE, owner="carla"),
)
CONTACT_CENTRE_AGENTS = ("carla", "diego", "priya")

USERS: tuple[UserSpec, ...] = (
    UserSpec(
        "admin", "Alex", "Morgan", "Program administrator (superuser)", Role.ADMIN, CORPORATE, True
    ),
    UserSpec(HEAD_OF_CARE, "Helen", "Carter", "Head of customer care", Role.MANAGER, CORPORATE),
    *(
        UserSpec(username, first, last, f"Regional manager, {name}", Role.MANAGER, code)
        for code, name, (username, first, last), _ in _REGIONS
    ),
    *(
        UserSpec(username, first, last, f"Store manager, {name}", Role.AGENT, f"store-{code}")
        for _, _, _, stores in _REGIONS
        for code, name, (username, first, last) in stores
    ),
    UserSpec("carla", "Carla", "Mendes", "Contact-centre agent", Role.AGENT, CONTACT_CENTRE_UNIT),
    UserSpec("diego", "Diego", "Alvarez", "Contact-centre agent", Role.AGENT, CONTACT_CENTRE_UNIT),
    UserSpec("priya", "Priya", "Raman", "Contact-centre agent", Role.AGENT, CONTACT_CENTRE_UNIT),
    UserSpec("ana", "Ana", "Silva", "Customer insight analyst (read only)", Role.VIEWER, CORPORATE),
    UserSpec(LIMITED_WATCHER, "Lara", "Novak", "Quality auditor, watches some cases (read only)"),
)

RETAIL = ProgramSpec(
    code=RETAIL_PROGRAM,
    name="Retail purchase survey",
    description=(
        "Customers who answer the post-purchase survey and report a concern get a call back "
        "from the store within one business day."
    ),
    start_deadline=1,
    resolve_deadline=3,
    deadline_unit=DeadlineUnit.BUSINESS_DAYS,
    case_types=(
        CaseTypeSpec(
            code="product-quality",
            name="Product quality",
            playbook=(
                "Call the customer",
                "Check the product batch on the shelf",
                "Offer a replacement or refund",
                "Confirm the outcome with the customer",
            ),
            subjects=(
                "Milk was sour before its date",
                "Jacket seam came apart after one wear",
                "Coffee machine stopped working",
                "Bread was mouldy",
                "Headphones crackle on the left side",
            ),
            customer_words=(
                "I opened it at home and it was already spoiled. Very disappointing.",
                "Second time this month the same product was faulty.",
                "It broke after two days and the receipt says no returns on sale items?",
                "Quality has really gone down, I used to trust this brand.",
            ),
            likely_causes=("product-defect", "supplier-quality", "process-not-followed"),
        ),
        CaseTypeSpec(
            code="staff-behaviour",
            name="Staff behaviour",
            playbook=(
                "Call the customer",
                "Talk with the staff member and the shift lead",
                "Apologise and record the agreed action",
            ),
            subjects=(
                "Cashier was rude at checkout",
                "No one helped me find a size",
                "Staff argued with me about a return",
                "Security guard followed me around the store",
            ),
            customer_words=(
                "The cashier rolled her eyes and did not say a word to me.",
                "I asked three people for help and everyone said it was not their department.",
                "I felt treated like a thief. I will not come back.",
                "The employee was on the phone the whole time.",
            ),
            likely_causes=("staff-attitude", "training-gap", "understaffed"),
        ),
        CaseTypeSpec(
            code="checkout-wait",
            name="Checkout waiting time",
            playbook=(
                "Call the customer",
                "Review the staffing plan for the visit time",
                "Tell the customer what will change",
            ),
            subjects=(
                "Waited 25 minutes to pay",
                "Only one till open on Saturday",
                "Self-checkout out of order again",
            ),
            customer_words=(
                "Huge queue and only one till open at lunchtime.",
                "The self-checkouts never work and nobody comes to help.",
                "I left my basket and went elsewhere.",
            ),
            likely_causes=("understaffed", "equipment-failure", "process-not-followed"),
        ),
        CaseTypeSpec(
            code="store-condition",
            name="Store cleanliness and stock",
            playbook=(
                "Call the customer",
                "Inspect the area the customer mentioned",
                "Record the fix with a photo",
            ),
            subjects=(
                "Advertised item out of stock",
                "Dirty floor in the produce aisle",
                "Price on shelf differs from checkout",
                "Fitting rooms closed",
            ),
            customer_words=(
                "The flyer said 30% off but there was none on the shelf.",
                "Broken glass in the aisle for at least an hour.",
                "Shelf said $4.99, I was charged $6.49.",
                "Half the shelves were empty on a Monday morning.",
            ),
            likely_causes=("out-of-stock", "pricing-error", "store-cleanliness"),
        ),
    ),
    closing_statuses=(
        ClosingStatusSpec("resolved-satisfied", "Resolved — customer satisfied", True),
        ClosingStatusSpec("resolved-goodwill", "Resolved — goodwill voucher given", True),
        ClosingStatusSpec("unresolved-unreachable", "Unresolved — customer not reachable", False),
        ClosingStatusSpec("unresolved-declined", "Unresolved — customer declined remedy", False),
    ),
    root_causes=(
        ("product-defect", "Product defect"),
        ("supplier-quality", "Supplier quality"),
        ("out-of-stock", "Out of stock"),
        ("staff-attitude", "Staff attitude"),
        ("training-gap", "Training gap"),
        ("understaffed", "Not enough staff on shift"),
        ("pricing-error", "Pricing or promotion error"),
        ("store-cleanliness", "Store cleanliness"),
        ("equipment-failure", "Equipment failure"),
        ("process-not-followed", "Process not followed"),
    ),
    notes=(
        "Checked the shelf: two more units from the same batch, pulled them.",
        "Spoke with the shift lead; it matches what the team reported that day.",
        "Customer prefers a call after 5 pm.",
        "Asked the supplier rep for a batch report.",
        "Reviewed the till log for the visit time.",
    ),
    resolved_notes=(
        "Apologised, refunded the item and added a $10 voucher. Customer happy.",
        "Replacement handed over in store; customer thanked the team.",
        "Explained what we changed on the rota; customer satisfied.",
        "Price corrected and difference refunded to the card.",
    ),
    unresolved_notes=(
        "Three attempts, no answer, voicemail full. Closing as not reachable.",
        "Customer did not want a voucher and asked us not to call again.",
        "Customer declined the replacement; wants a full refund outside policy.",
    ),
)

CONTACT_CENTRE = ProgramSpec(
    code=CONTACT_CENTRE_PROGRAM,
    name="Contact centre complaints",
    description=(
        "Complaints received by phone, email or the web form; the contact centre starts "
        "within four business hours and resolves within two business days."
    ),
    start_deadline=4,
    resolve_deadline=16,
    deadline_unit=DeadlineUnit.BUSINESS_HOURS,
    case_types=(
        CaseTypeSpec(
            code="billing",
            name="Billing dispute",
            playbook=(
                "Verify the customer's identity",
                "Check the charge in the billing system",
                "Agree the correction with the customer",
            ),
            subjects=(
                "Charged twice for one order",
                "Refund not received after 14 days",
                "Unknown charge on card statement",
            ),
            customer_words=(
                "I see two identical charges on my statement.",
                "You promised a refund two weeks ago and nothing arrived.",
            ),
            likely_causes=("billing-error", "policy-unclear", "agent-error"),
        ),
        CaseTypeSpec(
            code="delivery",
            name="Delivery problem",
            playbook=(
                "Track the parcel with the carrier",
                "Arrange redelivery or refund",
                "Confirm delivery with the customer",
            ),
            subjects=(
                "Parcel marked delivered but not received",
                "Delivery three days late",
                "Package arrived damaged",
            ),
            customer_words=(
                "Tracking says delivered, but nothing was left at my door.",
                "The box was crushed and the vase inside broken.",
            ),
            likely_causes=("carrier-delay", "partner-error", "website-defect"),
        ),
        CaseTypeSpec(
            code="online-order",
            name="Online order issue",
            playbook=(
                "Look up the order",
                "Fix or cancel the order",
                "Email the customer a confirmation",
            ),
            subjects=(
                "Discount code rejected at checkout",
                "Order cancelled without explanation",
                "Wrong item sent",
            ),
            customer_words=(
                "Your website kept rejecting the code from your own newsletter.",
                "I ordered a blue one and got a red one.",
            ),
            likely_causes=("website-defect", "policy-unclear", "agent-error"),
        ),
        CaseTypeSpec(
            code="loyalty",
            name="Loyalty points",
            playbook=("Check the points history", "Credit missing points", "Tell the customer"),
            subjects=("Points missing from last purchase", "Loyalty card blocked"),
            customer_words=("My points from last week never showed up.",),
            likely_causes=("billing-error", "policy-unclear"),
        ),
    ),
    closing_statuses=(
        ClosingStatusSpec("resolved-first-contact", "Resolved on first contact", True),
        ClosingStatusSpec("resolved-follow-up", "Resolved after follow-up", True),
        ClosingStatusSpec("refund-issued", "Resolved — refund issued", True),
        ClosingStatusSpec("unresolved-policy", "Unresolved — outside policy", False),
        ClosingStatusSpec("unresolved-unreachable", "Unresolved — customer not reachable", False),
    ),
    root_causes=(
        ("billing-error", "Billing system error"),
        ("carrier-delay", "Carrier delay"),
        ("website-defect", "Website defect"),
        ("policy-unclear", "Policy unclear to customer"),
        ("agent-error", "Agent error"),
        ("partner-error", "Third-party partner error"),
    ),
    notes=(
        "Opened a ticket with the carrier, reference attached.",
        "Billing confirms the duplicate charge; reversal requested.",
        "Customer will send photos of the damage by email.",
        "Escalated to the web team with screenshots.",
    ),
    resolved_notes=(
        "Refund processed and confirmed with the customer.",
        "Replacement shipped with express delivery; customer satisfied.",
        "Points credited and explained; customer happy.",
    ),
    unresolved_notes=(
        "Request is outside the returns policy; explained and offered a voucher, declined.",
        "No answer after three calls and two emails.",
    ),
)

PROGRAMS: tuple[ProgramSpec, ...] = (RETAIL, CONTACT_CENTRE)

FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Charles", "Karen", "Christopher", "Lisa", "Daniel", "Nancy", "Matthew", "Betty", "Anthony",
    "Sandra", "Mark", "Margaret", "Donald", "Ashley", "Steven", "Kimberly", "Andrew", "Emily",
    "Paul", "Donna", "Joshua", "Michelle", "Kenneth", "Carol", "Kevin", "Amanda", "Brian",
    "Melissa", "George", "Deborah", "Timothy", "Stephanie", "Aisha", "Wei", "Mateo", "Fatima",
    "Hiroshi", "Ingrid", "Kwame", "Leila", "Dmitri", "Ananya",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Chen", "Kim", "Okonkwo", "Schmidt",
    "Ivanova", "Haddad", "Tanaka", "Singh", "Larsen", "Costa",
)  # fmt: skip
# US area codes; with the 555-0100…0199 block reserved for fiction, no real person is called.
AREA_CODES = (
    201, 202, 203, 205, 206, 207, 208, 209, 210, 212, 213, 214, 215, 216, 217, 218, 219, 224,
    225, 228, 229, 231, 234, 239, 240, 248, 251, 252, 253, 254, 256, 260, 262, 267, 269, 270,
    276, 281, 301, 302, 303, 304, 305, 307, 308, 309, 310, 312, 313, 314, 315, 316, 317, 318,
    319, 320,
)  # fmt: skip
EMAIL_DOMAINS = ("example.com", "example.net", "example.org")
