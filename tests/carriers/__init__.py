"""Tests for carriers."""
