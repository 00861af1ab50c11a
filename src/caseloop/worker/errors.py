"""Errors the worker records on the tasks it gives up on."""


class WorkerLost(Exception):
    """The worker running a task stopped answering (killed, out of memory, machine gone) so
    often that the task is not tried again. Recorded as the failed task's exception class."""
