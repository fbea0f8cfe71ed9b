(function_declaration
  body: (block) @function.inside) @function.around

(method_declaration
  body: (block) @function.inside) @function.around

(func_literal
  body: (block) @function.inside) @function.around

(type_declaration
  (type_spec type: (struct_type) @class.inside)) @class.around

;; what `go test` runs: Test and Fuzz functions (a fuzz test runs its seed corpus), and examples that say their
;; output (an example without an "Output:" comment is compiled, never run)
((function_declaration
  name: (identifier) @_test_name) @test.around
  (#match? @_test_name "^(Test|Fuzz)"))

;; a testify suite's test method: func (s *ShapesSuite) TestArea() (run by the Test function that calls
;; suite.Run(t, new(ShapesSuite)))
((method_declaration
  name: (field_identifier) @_test_name) @test.around
  (#match? @_test_name "^Test"))

((function_declaration
  name: (identifier) @_test_name
  body: (block [(comment) @_output (statement_list (comment) @_output)])) @test.around
  (#match? @_test_name "^Example")
  (#match? @_output "^//[ \t]*(Unordered output|Output):"))

;; a test file built only with a tag `go test` is not given by default (//go:build integration, e2e, …): none of
;; its tests runs, so none is selected (a negated tag, //go:build !integration, builds by default)
((source_file
  (comment) @_build) @test.skipped
  (#match? @_build "^//go:build (.*[ (&|])?(integration|e2e|manual|slow|acceptance|functional|system|smoke|long|ignore)\\b"))
