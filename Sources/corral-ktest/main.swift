print("corral-ktest")
