from learning.v1 import cohort_pb2, cohort_service_pb2


def test_create_then_get_returns_the_stored_cohort(stub, auth, tenant):
    created = stub.CreateCohort(
        cohort_service_pb2.CreateCohortRequest(cohort=cohort_pb2.Cohort(name="Spring 2027")),
        metadata=auth,
    )
    assert created.id.startswith("coh_")
    assert created.tenant_id == tenant
    fetched = stub.GetCohort(cohort_service_pb2.GetCohortRequest(id=created.id), metadata=auth)
    assert fetched == created
