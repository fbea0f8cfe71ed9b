(function_definition
  body: (block) @function.inside) @function.around

(class_definition
  body: (block) @class.inside) @class.around

((function_definition
  name: (identifier) @_test_name) @test.around
  (#match? @_test_name "^test"))
