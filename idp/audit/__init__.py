"""The audit trail: one row per decision a person or an operator made (who, what, when, from where)."""
