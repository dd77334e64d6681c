"""The runtime's pure core: filter masks over a model's item index, ranking, promotions, exploration."""
