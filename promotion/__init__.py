"""Promotion and rollback of trained versions: `python -m promotion` (`make promote`,
`make rollback`), its shadow gate, and the `latest` pointer with its history."""
