(function_item
  body: (block) @function.inside) @function.around

(closure_expression
  body: (_) @function.inside) @function.around

(struct_item) @class.around

(impl_item
  body: (declaration_list) @class.inside) @class.around

((attribute_item (attribute (identifier) @_test_attr))
  .
  (function_item) @test.around
  (#eq? @_test_attr "test"))
