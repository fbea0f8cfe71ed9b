(function_item
  body: (block) @function.inside) @function.around

(closure_expression
  body: (_) @function.inside) @function.around

(struct_item) @class.around

(impl_item
  body: (declaration_list) @class.inside) @class.around

;; #[test] and #[tokio::test]-like attributes, with other attributes (#[should_panic], #[ignore]) after them
((attribute_item
  (attribute [(identifier) @_test_attr (scoped_identifier name: (identifier) @_test_attr)]))
  .
  (attribute_item)*
  .
  (function_item) @test.around
  (#eq? @_test_attr "test"))

;; a test that cargo test does not run (#[ignore], before or after #[test])
((attribute_item (attribute (identifier) @_ignore_attr))
  .
  (attribute_item)*
  .
  (function_item) @test.skipped
  (#eq? @_ignore_attr "ignore"))
