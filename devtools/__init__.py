"""Developer tooling kept out of the shipped package: ``make demo`` / ``make stop`` (``demo_stack``),
the demo LangChain app (``demo``) and how the demo and the tests start a local Label Studio
(``local_label_studio``). Run from the repository root: ``python -m devtools.demo_stack up``."""
