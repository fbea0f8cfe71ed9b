(function_definition
  body: (block) @function.inside) @function.around

(class_definition
  body: (block) @class.inside) @class.around

((function_definition
  name: (identifier) @_test_name) @test.around
  (#match? @_test_name "^test"))

;; a test or test class that pytest skips as written (@pytest.mark.skip, @pytest.mark.xfail, @unittest.skip;
;; not the conditional skipif)
((decorated_definition
  (decorator) @_skip_decorator) @test.skipped
  (#match? @_skip_decorator "^@\\s*(pytest\\.mark\\.(skip|xfail)|unittest\\.skip)\\b"))

;; a pytest fixture (@pytest.fixture, @pytest.fixture(...), @fixture): a test that asks for one that uses the
;; function (by a parameter of its name) is selected too
((decorated_definition
  (decorator) @_fixture_decorator
  definition: (function_definition) @test.fixture)
  (#match? @_fixture_decorator "^@\\s*(pytest\\.)?fixture\\b"))
