"""The monitoring store: tables, migrations, and the figures indexed from each result.

Layer: store/ (an edge: the database). Used by server/ only.
"""
