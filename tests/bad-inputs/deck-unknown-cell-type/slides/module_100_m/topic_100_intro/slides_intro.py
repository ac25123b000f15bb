# j2 from 'macros.j2' import header
# {{ header("Einführung", "Introduction") }}

# %% [markdwon]
# A deck that builds.
