"""Helpers the deck imports; copied beside the deck in every variant."""


def mean(values):
    values = list(values)
    return sum(values) / len(values)
