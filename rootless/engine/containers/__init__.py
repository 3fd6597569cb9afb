"""The containers service: one verb per module, one state machine (state.py), one record
format (record.py). Every verb runs inside the engine's user namespace (context.open).
"""
