"""What waits: the queue interface, the in-memory queue, the durable spool (SQLite), held traces and their
codec.
"""
