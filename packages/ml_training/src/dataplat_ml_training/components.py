"""Component types of this package, listed by `dg list components` through the registry entry point.

None yet: the package's own issue adds them. The entry point is registered already so deployments and
`dg list components` pick them up without a packaging change.
"""

__all__: list[str] = []
