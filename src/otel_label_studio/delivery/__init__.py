"""Delivery to Label Studio: the worker, the Label Studio client (the only module that talks to it),
projects, Data Manager views, outages, backoff.
"""
