Feature: First model to production
  Two versions of a churn model are registered; the retrained one is evaluated, passes the
  gate against the champion and is promoted, answers the README's curl, and is rolled back
  while the server runs; naming it the challenger then starts the canary the deployment
  spec describes.

  Scenario: Register, evaluate, gate, serve, predict with curl, roll back
    Given a fresh project folder set up by keel init
    And churn-v1 learned from shuffled labels, churn-v2 from the real signal, and held-out customers in holdout.csv
    And deploy/churn.yaml rolls a challenger out as a canary: 10% of the traffic, then a pause
    When I run the README's first-model commands, serving on a free port
    Then every command succeeded
    And the gate promoted version 2 over version 1 on a higher AUC
    And the README's curl was answered by version 2 with a probability of churn
    And after the rollback the running server answers with version 1 within 20 seconds
    And the history shows the promotion to 2, the rollback to 1 and the challenger at 2
    And the deploy status shows the canary of version 2 against version 1 at 10% of the traffic
