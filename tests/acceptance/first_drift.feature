Feature: First drift alert
  Today's customers pay higher rates than the ones the model learned from. Comparing the
  data shows it, the monitoring report over the served model's prediction log shows it,
  and the check fails and posts its alerts to a webhook.

  Scenario: Compare, report, check with a webhook
    Given a fresh project folder set up by keel init
    And churn version 1 is the champion, registered with its training customers (train.csv) as reference
    And today.csv holds customers whose rates are 0.3 higher, with whether they churned
    And a webhook receiver listens on a local port
    When the README's keel serve answers today's customers, then stops
    And I run the README's first-drift commands, the webhook being the local receiver
    Then the compare exits with 1, naming rate as drifted and age as not
    And the report wrote report.html
    And the check exits with 1 and the receiver got the same alerts, naming rate, not age or income
