"""The review units: prompt and chat (``calls.py``: one LLM call a task), agent (``agent.py``: one
LangChain run), pairwise (``pairwise.py``: two answers to one prompt), each a ``unit.ReviewUnit``;
``units.py`` finds them by mode and by record. The rest of the package asks the unit.
"""
