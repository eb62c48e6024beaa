Feature: First features
  Credit-bureau reports are feature definitions in code. The training set joins them point in
  time (an application of day 5 gets the day-0 score, not day 10's lower one), the online
  store serves the latest, and a model registered with its feature service is served from
  the applicant's id alone; what it served is then compared with the point-in-time join,
  which finds the stale score served once a new report arrives that nobody materialized.

  Scenario: Define, build a training set, materialize, serve by key, measure skew
    Given a fresh project folder
    When I run the README's first-features Python in it
    And I run the README's first-features commands, serving on a free port
    Then every command succeeded
    And the training set gave applicant 1 the score 610 and applicant 2 the score 700
    And the online store gave applicant 1 the score 540
    And the model loans version 1 names the feature service scoring
    And the README's curl sent only the applicant's id and was answered by version 1
    And the skew report replayed that request: credit_score served as the join gives it, exit 0
    When a new report of applicant 1 (score 480) arrives that nobody materializes
    And the README's server answers the README's curl again, then stops, and skew runs again
    Then that skew exits 1, naming credit_score stale on 1 of the 2 served rows
