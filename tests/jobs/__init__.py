"""Tests of the jobs/ floor: options checked once, typed results, bounds as results."""
