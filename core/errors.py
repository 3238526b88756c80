"""Errors a person can act on, and nothing else.

Each one says what went wrong and what to do about it, in words meant for whoever runs the
command: the CLI prints it as one line with its remedy and exits 1. Any other exception is a bug,
and the CLI lets its traceback show.
"""

from __future__ import annotations


class ActionableError(Exception):
    """Something the user can fix. `subject` names what it is about (a service, a program, a
    setting); `remedy` says what to do."""

    def __init__(self, problem: str, remedy: str = "", *, subject: str | None = None):
        self.problem = problem
        self.remedy = remedy
        self.subject = subject
        message = f"[{subject}] {problem}" if subject else problem
        super().__init__(f"{message}\n  -> {remedy}" if remedy else message)


class ServiceUnavailable(ActionableError):
    """A service does not answer: which one, at which address, and how to start it."""


class InvalidInput(ActionableError):
    """An argument, a setting or a file that cannot be used: which one, and what it must be."""


class MissingPrerequisite(ActionableError):
    """Something that must come first: a program (Java, Maven, PostgreSQL), or an earlier step
    (an unfinished ETL run, a schedule not yet created)."""
