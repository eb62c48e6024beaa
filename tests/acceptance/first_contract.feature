Feature: First contract
  A newcomer infers a contract from a sample of their data, then validation tells
  clean data from broken data, naming the column that broke.

  Scenario: Infer a contract, validate clean data, then broken data
    Given a fresh project folder
    And the demo's loan sample where the README reads it
    When I run the README's first-contract commands
    Then every command succeeded
    And contract.yaml describes every column of the loan sample
    And the loan sample is registered as dataset "loans"
    When a copy of the loan sample has an age of 7 in one row
    And I validate the copy the way the README validates the sample
    Then the last command exits with 1
    And the failed check is on column "age", for 1 row
