"""Campaigns (issue 21): short initiatives driving some checks or track levels over a set of entities by a
deadline, as Soundcheck's Campaigns: ``model`` (the ``soundcheck.campaigns`` objects), ``progress`` (a pure
computation of a campaign's progress, overall and per owner, from one run's ``RunReport``)."""
