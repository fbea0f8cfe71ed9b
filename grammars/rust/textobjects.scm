(function_item
  body: (block) @function.inside) @function.around

(closure_expression
  body: (_) @function.inside) @function.around

(struct_item) @class.around

(impl_item
  body: (declaration_list) @class.inside) @class.around

;; #[test] and #[tokio::test]-like attributes, with other attributes (#[should_panic], #[ignore]) after them;
;; quickcheck's and test-strategy's property tests (a test of the same name)
((attribute_item
  (attribute [(identifier) @_test_attr (scoped_identifier name: (identifier) @_test_attr)]))
  .
  (attribute_item)*
  .
  (function_item) @test.around
  (#any-of? @_test_attr "test" "quickcheck" "proptest"))

;; rstest's and test-case's tests: the crate makes a module of the function's name with a test per case
;; (#[rstest] without cases: a test of the same name)
((attribute_item
  (attribute [(identifier) @_cases_attr (scoped_identifier name: (identifier) @_cases_attr)]))
  .
  (attribute_item)*
  .
  (function_item) @test.around @test.cases
  (#any-of? @_cases_attr "rstest" "test_case" "test_matrix"))

;; a test that cargo test does not run (#[ignore], before or after #[test])
((attribute_item (attribute (identifier) @_ignore_attr))
  .
  (attribute_item)*
  .
  (function_item) @test.skipped
  (#eq? @_ignore_attr "ignore"))
