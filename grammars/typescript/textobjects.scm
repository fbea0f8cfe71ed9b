(function_declaration
  body: (statement_block) @function.inside) @function.around

(method_definition
  body: (statement_block) @function.inside) @function.around

(arrow_function
  body: (_) @function.inside) @function.around

(function_expression
  body: (statement_block) @function.inside) @function.around

(class_declaration
  body: (class_body) @class.inside) @class.around

((call_expression
  function: (identifier) @_test_fn
  arguments: (arguments (string) (_))) @test.around
  (#any-of? @_test_fn "test" "it"))
