def describe(items):
    print(f"{len(items)} items, smallest {min(items)}, largest {max(items)}")
