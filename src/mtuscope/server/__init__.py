"""The monitoring server (`mtuscope serve`): HTTP API, events, metrics, dashboard.

Layer: server/ (an edge). It stores what agents send through store/, renders
reports through report/, and analyses uploaded captures through jobs/.
"""
