"""services/jobs/doccache.py: a job's document kept for its seq, the newest
kept, the least recently used dropped past the bound."""
from services.jobs.doccache import Documents


def doc(job_id, seq):
    return {"id": job_id, "seq": seq, "status": "queued"}


def test_a_document_is_given_for_its_own_seq_only():
    documents = Documents()
    documents.put(doc("a", 3))
    assert documents.get("a", 3) == doc("a", 3)
    assert documents.get("a", 4) is None  # the job changed since: build it again
    assert documents.get("b", 3) is None


def test_an_older_document_never_replaces_a_newer_one():
    documents = Documents()
    documents.put(doc("a", 5))
    documents.put(doc("a", 4))  # a slower reader's build of an earlier state
    assert documents.get("a", 5) == doc("a", 5) and documents.get("a", 4) is None
    documents.put(doc("a", 6))
    assert documents.get("a", 6) == doc("a", 6)


def test_the_least_recently_used_goes_past_the_bound():
    documents = Documents(max_documents=2)
    documents.put(doc("a", 1))
    documents.put(doc("b", 1))
    documents.get("a", 1)        # a is used: b is now the oldest
    documents.put(doc("c", 1))
    assert len(documents) == 2
    assert documents.get("b", 1) is None and documents.get("a", 1) and documents.get("c", 1)
