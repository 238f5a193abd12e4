package image

import "fmt"

// newest is filled in by the backends; until then it fails loudly.
func (d *Datasource) newest() (DatasourceOutput, error) {
	return DatasourceOutput{}, fmt.Errorf("backend %q: not implemented yet", d.config.Backend)
}
