"""The aigov command."""


def main() -> None:
    raise SystemExit(0)
