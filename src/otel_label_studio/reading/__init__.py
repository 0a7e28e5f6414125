"""Reading spans: the neutral span view, the dialects, span -> record mapping, redaction, judge results on
spans (pure).
"""
