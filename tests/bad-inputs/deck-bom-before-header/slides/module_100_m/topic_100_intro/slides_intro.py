# j2 from 'macros.j2' import header
# {{ header("Einführung", "Introduction") }}

# %% [markdown]
# A deck that builds.
