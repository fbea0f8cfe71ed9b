(function_declaration
  body: (block) @function.inside) @function.around

(method_declaration
  body: (block) @function.inside) @function.around

(func_literal
  body: (block) @function.inside) @function.around

(type_declaration
  (type_spec type: (struct_type) @class.inside)) @class.around

((function_declaration
  name: (identifier) @_test_name) @test.around
  (#match? @_test_name "^Test"))
