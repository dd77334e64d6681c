"""The batch worker's pure core: input lines -> requests, answers -> output lines, the guide's limits."""
