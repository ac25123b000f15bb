print("not copied")
