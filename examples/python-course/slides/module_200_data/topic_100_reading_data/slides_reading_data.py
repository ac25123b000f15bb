# j2 from 'macros.j2' import header
# {{ header("Daten lesen: CSV", "Reading Data: CSV") }}

# %% [markdown] lang="de"
#
# ## Eine CSV-Datei lesen
#
# <img src="img/pipeline.png" alt="Datenfluss">

# %% [markdown] lang="en"
#
# ## Reading a CSV file
#
# <img src="img/pipeline.png" alt="Data flow">

# %% tags=["keep"]
import csv

from stats_helper import mean

# %%
with open("data/scores.csv", newline="") as f:
    rows = list(csv.DictReader(f))
len(rows)

# %%
mean(int(row["score"]) for row in rows)

# %% [markdown] lang="de"
#
# Als Tabelle, mit dem Paket `tabulate` aus `requirements.txt`:

# %% [markdown] lang="en"
#
# As a table, with the package `tabulate` from `requirements.txt`:

# %%
from tabulate import tabulate

print(tabulate(rows, headers="keys"))

# %% [markdown] lang="de"
#
# Der Ablauf als Diagramm:
#
# <img src="img/flow.png" alt="Ablauf">

# %% [markdown] lang="en"
#
# The steps as a diagram:
#
# <img src="img/flow.png" alt="Steps">
