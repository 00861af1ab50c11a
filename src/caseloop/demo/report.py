"""What ``caseloop demo`` tells the person running it: progress, counts and the logins."""

from django.utils import timezone
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from caseloop.demo.catalogue import DEMO_PASSWORD, USERS
from caseloop.demo.loader import DemoClash, demo_counts, load_demo

console = Console(highlight=False)


def say(message: str) -> None:
    console.print(message)


def load_and_summarise() -> bool:
    """Load the demo unless it is there, and print what the database holds.

    Returns False (after saying why) when the database holds clashing data.
    """
    columns = (TextColumn("Loading cases"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("cases", total=None)

        def advance(done: int, total: int) -> None:
            if done % 50 == 0 or done == total:
                progress.update(task, completed=done, total=total)

        try:
            load = load_demo(progress=advance)
        except DemoClash as exc:
            console.print(f"[red]caseloop demo: {exc}[/red]")
            return False
    if load.loaded:
        console.print(f"Loaded the demo data in {load.seconds:.1f} s.")
    else:
        console.print("The demo data is already loaded; nothing was added.")
    counts = demo_counts(timezone.now())
    console.print(
        "{users} users, {units} units, {customers} customers, {purchases} purchases; "
        "{cases} cases: {new} New, {in_progress} In Progress, {overdue} Overdue, "
        "{closed} Closed.".format(**{k: f"{v:,}" for k, v in counts.items()})
    )
    return True


def print_logins(url: str | None) -> None:
    table = Table(title="Demo logins", title_justify="left")
    table.add_column("Username")
    table.add_column("Password")
    table.add_column("Who")
    for user in USERS:
        table.add_row(user.username, DEMO_PASSWORD, user.title)
    console.print(table)
    if url:
        console.print(f"Open [bold]{url}[/bold] and log in (Ctrl-C stops the demo).")
