Feature: First pipeline
  A pipeline is plain typed functions. The first run runs every step, a second run takes
  them from the cache, a new parameter re-runs what the new data reaches, and lineage shows
  what a result was made from.

  Scenario: Run, re-run from the cache, change a parameter, trace the lineage
    Given a fresh project folder
    And the README's pipeline saved as flow.py
    When I run the README's first-pipeline commands, RUN_ID being the newest run
    Then every command succeeded
    And run 1 ran 2 steps and took 0 from the cache
    And run 2 ran 0 steps and took 2 from the cache
    And run 3 ran 2 steps and took 0 from the cache
    And the runs' means are 2.8, 2.8 and 5.667
    And the lineage of the newest run reaches the file other.txt through step stats.read
