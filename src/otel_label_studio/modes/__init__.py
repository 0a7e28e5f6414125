"""The review units: prompt and chat (layouts), agent runs (runs, run_steps, run_tasks), pairwise (pairs,
pair_hold, pair_layout, pair_record).
"""
