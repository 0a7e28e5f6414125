"""Judge results: as predictions (judge) and joined with their span's task when they arrive on their own
(judge_join).
"""
