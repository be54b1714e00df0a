"""Errors that are the user's to fix: the CLI prints them as one line and exits with status 2."""


class UserError(Exception):
    """A mistake in user input (config, file, name) with a message saying how to fix it."""


def closest_names(name: str, candidates, n: int = 3) -> str:
    """Return a ``did you mean`` suffix naming the closest candidates, or an empty string."""
    import difflib

    matches = difflib.get_close_matches(name, list(candidates), n=n, cutoff=0.5)
    return f" (did you mean: {', '.join(matches)}?)" if matches else ""
