AUDIT (
  name assert_positive_amounts
);

/* Money amounts must be greater than zero: zero or less means a refund or a currency
   conversion went wrong upstream. An audit passes when its query returns no rows.
   Usage in a model: audits (assert_positive_amounts(column := amount_usd)) */
SELECT
  *
FROM @this_model
WHERE
  @column <= 0
