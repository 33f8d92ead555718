"""Pure domain: ids, lifecycle states and transitions, value objects, lifecycle decisions.

Nothing here does I/O.
"""
