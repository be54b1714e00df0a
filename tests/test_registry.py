import pytest

from evoapproxnas.hardware.config import MODELS, register_model
from evoapproxnas.registry import registrar
from evoapproxnas.search.engines.registry import ENGINES, register_engine
from evoapproxnas.search.spaces.registry import SPACES, register_space


def test_a_registered_class_is_stored_under_its_name_and_told_it():
    table: dict[str, type] = {}
    register = registrar(table, "a widget", "label")

    @register("w1")
    class W1:
        pass

    assert table == {"w1": W1} and W1.label == "w1"
    with pytest.raises(ValueError, match=r"a widget named 'w1' is already registered \(.*W1\)"):
        register("w1")(type("W2", (), {}))
    assert table == {"w1": W1}


@pytest.mark.parametrize("register, table, name", [
    (register_engine, ENGINES, "pymoo"), (register_space, SPACES, "cgp"),
    (register_model, MODELS, "asic")])
def test_the_package_registries_refuse_a_second_class_of_a_name(register, table, name):
    first = table[name]
    with pytest.raises(ValueError, match="already registered"):
        register(name)(type("Other", (), {}))
    assert table[name] is first
