"""Helpers the tests share: constants, real servers and receivers, bounded waiting."""
