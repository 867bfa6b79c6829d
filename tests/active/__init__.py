"""Tests of mtuscope.active: the sans-IO probe engines against FakePath."""
